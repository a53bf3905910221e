"""`python -m services.evaluator`: run the evaluator service until SIGTERM."""

from services.evaluator.server import serve
from services.evaluator.settings import EvaluatorSettings
from tuneloop_core.runtime import run_main


def main() -> None:
    settings = EvaluatorSettings()
    run_main(settings, lambda: serve(settings))


if __name__ == "__main__":
    main()
