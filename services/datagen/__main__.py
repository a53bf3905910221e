"""`python -m services.datagen`: run the datagen service until SIGTERM."""

from services.datagen.server import serve
from services.datagen.settings import DatagenSettings
from tuneloop_core.runtime import run_main


def main() -> None:
    settings = DatagenSettings()
    run_main(settings, lambda: serve(settings))


if __name__ == "__main__":
    main()
