"""Rasa as an NLU backend: a Rasa 3.x server's ``/model/parse``, run beside the bot in its own Python."""

from __future__ import annotations

import httpx

from nlu.backend import NLUBackend, NLUUnavailable, Rankings
from nlu.data import axis_of, label_of


class RasaBackend(NLUBackend):
    """Splits Rasa's single flat intent ranking into the service, topic and act axes."""

    name = "rasa"

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def rank(self, text: str) -> Rankings:
        try:
            response = self.client.post(f"{self.url}/model/parse", json={"text": text})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise NLUUnavailable(f"Rasa server at {self.url} did not parse: {exc}") from exc
        axes: dict[str, list[tuple[str, float]]] = {"service": [], "topic": [], "act": []}
        question = 0.0
        for item in data.get("intent_ranking") or []:
            intent, conf = str(item.get("name", "")), float(item.get("confidence", 0.0))
            axis = axis_of(intent)
            axes[axis].append((label_of(intent), conf))
            if axis != "act":
                question += conf
        axes["act"].append(("question", question))
        # A topic intent is a general legal question: its confidence counts for the consultation service,
        # the same convention the built-in model is trained with (nlu/builtin.py axis_datasets).
        topic_mass = sum(c for _, c in axes["topic"])
        service = dict(axes["service"])
        service["consultation"] = service.get("consultation", 0.0) + topic_mass
        axes["service"] = list(service.items())
        result = Rankings()
        for axis, ranking in axes.items():
            total = sum(c for _, c in ranking) or 1.0
            setattr(result, axis, sorted(((label, c / total) for label, c in ranking), key=lambda lc: -lc[1]))
        if not result.service:
            result.service = [("consultation", 1.0)]
        if not result.topic:
            result.topic = [("other", 0.0)]
        return result
