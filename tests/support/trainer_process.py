"""A trainer worker in a process of its own, as `tuneloop up` or a container starts it:
what kill -9 tests kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from support.stack import ApiStack


def numbered_letters(count: int, answer: str = "說明公文格式。") -> bytes:
    """A chat JSONL of `count` questions "第i號函的主旨是什麼？" answered "第i號函<answer>":
    training data for jobs that must run for a while on the tiny model."""
    return "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"第{i}號函的主旨是什麼？"},
                    {"role": "assistant", "content": f"第{i}號函{answer}"},
                ]
            },
            ensure_ascii=False,
        )
        for i in range(count)
    ).encode()


class TrainerProcess:
    def __init__(self, stack: ApiStack, log: Path, *, ack_wait_s: float = 3):
        assert stack.gateway.grpc is not None
        env = dict(os.environ)
        env.update(
            {
                "TUNELOOP_DATA_DIR": str(stack.common.data_dir),
                "TUNELOOP_NATS_URL": stack.common.nats_url,
                "TUNELOOP_DATABASE_URL": stack.common.database_url,
                "TUNELOOP_GATEWAY_ADDR": f"127.0.0.1:{stack.gateway.grpc.port}",
                "TUNELOOP_TRAINER_GRPC_PORT": "0",
                "TUNELOOP_TRAINER_ACK_WAIT_S": str(ack_wait_s),
                "TUNELOOP_TRAINER_HEARTBEAT_S": "0.5",
                "TUNELOOP_TRAINER_CONTROL_POLL_S": "0.5",
                "OMP_NUM_THREADS": "1",
            }
        )
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.trainer"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
