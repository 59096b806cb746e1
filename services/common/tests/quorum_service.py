"""A small service on Haven's Nameko extensions, run with quorum queues by test_quorum_queues.py:

    python -m services.common.tests.quorum_service AMQP_URI QUEUE_TYPE

It answers `echo` over RPC, and its handler of `incidents.incident_recorded` always fails, so each such
event goes through the retry queue and ends in the dead-letter queue (after two tries, a moment apart,
rather than six over minutes).
"""
if __name__ == "__main__":  # the service's own process is green; the test process that imports this is not
    import services.common.green  # noqa: F401  (must come first)

import sys  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from services.common import nameko_ext  # noqa: E402
from services.common.keys import KeyRing  # noqa: E402
from services.common.testing import TEST_PUBLIC_KEYS  # noqa: E402

EVENT = ("incidents", "incident_recorded")


class QuorumTestService:
    name = "quorumtest"

    @nameko_ext.rpc
    def echo(self, words):
        return words

    @nameko_ext.event_handler(*EVENT)
    def on_incident_recorded(self, event):
        raise RuntimeError("the handler is down")


HANDLER_QUEUE = f"evt-{EVENT[0]}-{EVENT[1]}--{QuorumTestService.name}.on_incident_recorded"  # Nameko's naming


if __name__ == "__main__":
    amqp_uri, queue_type = sys.argv[1], sys.argv[2]
    nameko_ext.MAX_ATTEMPTS, nameko_ext.BACKOFF_MS = 2, (200,)
    settings = SimpleNamespace(key_ring=KeyRing.parse(TEST_PUBLIC_KEYS), queue_type=queue_type)
    runner = ServiceRunner({"AMQP_URI": amqp_uri, "SETTINGS": settings, "serializer": "json"})
    runner.add_service(QuorumTestService)
    runner.start()
    print("ready", flush=True)
    runner.wait()
