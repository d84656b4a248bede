"""A Sparkplug B 3.0 edge node configured with a primary host application, on paho-mqtt's own threaded client.

The maintained Python Sparkplug edge libraries on PyPI could not serve here: pysparkplug 0.6.1 pins
paho-mqtt<2 (aiomqtt needs paho-mqtt 2) and its edge node has no primary-host handling; mqtt-spb-wrapper pins
paho-mqtt 1.6.1 and protobuf 3.20.3 and uses the pre-3.0 STATE topic; aiospb 8 needs Python 3.12 (3.0.4 sends
JSON, not protobuf, unless given a protobuf encoder, as ``test_sparkplug_third_party_edge`` does, and cannot take
an NCMD); leaf-device pins protobuf<6 and a non-Sparkplug STATE namespace; tahu pins protobuf 3.19.1. So the
edge side is written here from the specification's edge rules, on paho-mqtt directly (not the aiomqtt
wrapper the connector uses), with the payload codec of ``smart365.telemetry.sparkplug_b``:

* CONNECT with a clean session and the NDEATH as Will (QoS 1, not retained, bdSeq);
* subscribe to ``spBv1.0/<group>/NCMD/<edge>`` (QoS 1) and ``spBv1.0/STATE/<primary host>`` (QoS 1);
* publish NBIRTH (seq 0, bdSeq, ``Node Control/Rebirth`` false) and DBIRTH only once the primary host's STATE
  says ``online: true``; stop publishing on an offline STATE whose timestamp is not older than the online one;
* on an NCMD ``Node Control/Rebirth`` = true: stop data, publish the births again (same bdSeq).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from smart365.telemetry.sparkplug_b import BD_SEQ, REBIRTH, DataType, Payload, decode, set_metric_value, topic


class PahoEdge:
    """One edge node with one device whose metrics are doubles; records what it did, in order."""

    def __init__(self, port: int, group: str, edge: str, device: str, metrics: list[str], primary_host: str) -> None:
        self.group, self.edge, self.device, self.primary_host = group, edge, device, primary_host
        self.aliases = {name: i + 1 for i, name in enumerate(metrics)}
        self.values: dict[str, float] = dict.fromkeys(metrics, 0.0)
        self.bd_seq = 0
        self.seq = 0
        self.publishing = False
        self.host_online_ts: int | None = None
        self.rebirth_requests = 0
        self.log: list[str] = []  # "STATE online", "NBIRTH", "DBIRTH", "DDATA", "NCMD rebirth", ...
        self.subscribed = threading.Event()
        self._lock = threading.RLock()
        self.port = port
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-edge-{group}-{edge}", clean_session=True
        )
        self.client.will_set(topic(group, "NDEATH", edge), self._ndeath(), qos=1, retain=False)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        """A clean stop: NDEATH, then DISCONNECT."""
        with self._lock:
            self.publishing = False
        self.client.publish(topic(self.group, "NDEATH", self.edge), self._ndeath(), qos=1).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()

    def die(self) -> None:
        """Drop the TCP connection without DISCONNECT (a power cut): the broker publishes the NDEATH Will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.shutdown(2)
            sock.close()

    # -- what the edge publishes ----------------------------------------------------------------------------

    def publish_data(self, values: dict[str, float]) -> bool:
        """A DDATA with these values by alias; ``False`` (nothing sent) while the edge may not publish."""
        with self._lock:
            if not self.publishing:
                return False
            self.values.update(values)
            payload = Payload(timestamp=_now_ms(), seq=self._next_seq())
            for name, value in values.items():
                metric = payload.metrics.add(alias=self.aliases[name], timestamp=payload.timestamp)
                set_metric_value(metric, DataType.Double, value)
            self._send("DDATA", payload, self.device)
            return True

    def skip_seq(self, count: int) -> None:
        """Leave out ``count`` seq numbers (as if messages were lost on the way)."""
        with self._lock:
            self.seq = (self.seq + count) % 256

    def _births(self) -> None:
        with self._lock:
            self.publishing = False  # no data between a rebirth request and the new births
            ts = _now_ms()
            nbirth = Payload(timestamp=ts, seq=0)
            self.seq = 0
            set_metric_value(nbirth.metrics.add(name=BD_SEQ, timestamp=ts), DataType.Int64, self.bd_seq)
            set_metric_value(nbirth.metrics.add(name=REBIRTH, timestamp=ts), DataType.Boolean, False)
            self._send("NBIRTH", nbirth)
            dbirth = Payload(timestamp=ts, seq=self._next_seq())
            for name, alias in self.aliases.items():
                metric = dbirth.metrics.add(name=name, alias=alias, timestamp=ts)
                set_metric_value(metric, DataType.Double, self.values[name])
            self._send("DBIRTH", dbirth, self.device)
            self.publishing = True

    def _send(self, kind: str, payload: Any, device: str | None = None) -> None:
        self.client.publish(topic(self.group, kind, self.edge, device), payload.SerializeToString(), qos=0)
        self.log.append(kind)

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def _ndeath(self) -> bytes:
        payload = Payload()
        set_metric_value(payload.metrics.add(name=BD_SEQ), DataType.Int64, self.bd_seq)
        return bytes(payload.SerializeToString())

    # -- what it hears --------------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(
            [(topic(self.group, "NCMD", self.edge), 1), (f"spBv1.0/STATE/{self.primary_host}", 1)]
        )

    def _on_subscribe(self, *_args: Any) -> None:
        self.subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == f"spBv1.0/STATE/{self.primary_host}":
            if not message.payload:
                return
            state = json.loads(message.payload)
            with self._lock:
                if state["online"]:
                    self.log.append("STATE online")
                    self.host_online_ts = int(state["timestamp"])
                    if not self.publishing:
                        self._births()
                elif self.host_online_ts is None or int(state["timestamp"]) >= self.host_online_ts:
                    self.log.append("STATE offline")
                    self.publishing = False
            return
        if any(m.name == REBIRTH and m.boolean_value for m in decode(message.payload).metrics):
            with self._lock:
                self.log.append("NCMD rebirth")
                self.rebirth_requests += 1
                self._births()


def _now_ms() -> int:
    return int(time.time() * 1000)
