"""`python -m services.inference`: run the inference service until SIGTERM."""

from services.inference.server import serve
from services.inference.settings import InferenceSettings
from tuneloop_core.runtime import run_main


def main() -> None:
    settings = InferenceSettings()
    run_main(settings, lambda: serve(settings))


if __name__ == "__main__":
    main()
