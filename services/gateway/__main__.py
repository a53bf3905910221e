"""`python -m services.gateway`: run the gateway until SIGTERM."""

from services.gateway.server import serve
from services.gateway.settings import GatewaySettings
from tuneloop_core.runtime import run_main


def main() -> None:
    settings = GatewaySettings()
    run_main(settings, lambda: serve(settings))


if __name__ == "__main__":
    main()
