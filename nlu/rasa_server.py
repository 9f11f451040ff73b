"""Running Rasa beside the bot: its own Python 3.10 environment, training, and a local server.

Rasa 3.6 needs Python <= 3.10 and pins old libraries, so it never enters the bot's environment.
These helpers create that environment, train a model on training_data/ and start
``rasa run --enable-api`` on loopback, for `LEGALBOT_NLU_BACKEND=rasa`, the CI test and the benchmark.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

RASA_VERSION = "3.6.21"
DEFAULT_ENV = Path(os.environ.get("LEGALBOT_RASA_ENV", Path.home() / ".cache" / "legalbot" / f"rasa-{RASA_VERSION}"))


class RasaError(RuntimeError):
    pass


def python310() -> Path | None:
    candidates = [os.environ.get("LEGALBOT_PYTHON310", "")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(f"{root}/versions/3.10.13/bin/python")
    candidates += [shutil.which("python3.10") or ""]
    for c in candidates:
        if c and Path(c).exists():
            return Path(c)
    return None


def rasa_bin(env: Path = DEFAULT_ENV) -> Path:
    return env / "bin" / "rasa"


def is_installed(env: Path = DEFAULT_ENV) -> bool:
    return rasa_bin(env).exists()


def _environ() -> dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def install(env: Path = DEFAULT_ENV) -> Path:
    """Create the Rasa environment (about 90 s and 2.7 GB from PyPI)."""
    if is_installed(env):
        return env
    python = python310()
    if python is None:
        raise RasaError("Rasa needs Python 3.10: install it (pyenv install 3.10.13) or set LEGALBOT_PYTHON310")
    subprocess.run([str(python), "-m", "venv", str(env)], check=True)
    pip = str(env / "bin" / "pip")
    subprocess.run([pip, "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([pip, "install", "-q", f"rasa=={RASA_VERSION}", "jieba"], check=True)
    return env


def train(nlu_dir: Path, config: Path, out_dir: Path, env: Path = DEFAULT_ENV, epochs: int | None = None,
          timeout: float = 3600) -> Path:
    """`rasa train nlu`; returns the model archive. ``epochs`` overrides DIET's for quick checks."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if epochs is not None:
        text = config.read_text(encoding="utf-8")
        patched = out_dir / "config.yml"
        import re

        patched.write_text(re.sub(r"epochs:\s*\d+", f"epochs: {epochs}", text), encoding="utf-8")
        config = patched
    result = subprocess.run(
        [str(rasa_bin(env)), "train", "nlu", "--config", str(config), "--nlu", str(nlu_dir), "--out", str(out_dir),
         "--fixed-model-name", "nlu"],
        capture_output=True, text=True, env=_environ(), timeout=timeout, cwd=out_dir, check=False,
    )
    model = out_dir / "nlu.tar.gz"
    if result.returncode != 0 or not model.exists():
        raise RasaError(f"rasa train nlu failed ({result.returncode}): {result.stderr[-2000:]}")
    return model


class RasaServer:
    """`rasa run --enable-api` on 127.0.0.1; a context manager that stops it."""

    def __init__(self, model: Path, port: int, env: Path = DEFAULT_ENV) -> None:
        self.model, self.port, self.env = model, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> RasaServer:
        log = open(self.model.parent / "rasa-server.log", "wb")  # noqa: SIM115  (closed with the process)
        self.process = subprocess.Popen(
            [str(rasa_bin(self.env)), "run", "--enable-api", "-m", str(self.model), "-i", "127.0.0.1",
             "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env=_environ(), cwd=self.model.parent,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RasaError(f"rasa run exited with {self.process.returncode}; see {log.name}")
            try:
                with httpx.Client(timeout=2) as client:
                    if client.get(f"{self.url}/status").status_code == 200:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise RasaError(f"rasa server did not answer within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> RasaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
