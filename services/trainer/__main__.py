"""`python -m services.trainer`: run the trainer service until SIGTERM."""

from services.trainer.server import serve
from services.trainer.settings import TrainerSettings
from tuneloop_core.runtime import run_main


def main() -> None:
    settings = TrainerSettings()
    run_main(settings, lambda: serve(settings))


if __name__ == "__main__":
    main()
