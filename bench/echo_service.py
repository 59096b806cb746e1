"""A Nameko service that answers at once, for bench/rpc_overhead.py (it runs this in a subprocess)."""
import services.common.green  # noqa: F401  (must come first)

import sys  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from services.common.nameko_ext import rpc  # noqa: E402


class BenchEchoService:
    name = "bench_echo"

    @rpc
    def echo(self, value):
        return value


if __name__ == "__main__":
    runner = ServiceRunner({"AMQP_URI": sys.argv[1], "serializer": "json"})
    runner.add_service(BenchEchoService)
    runner.start()
    print("ready", flush=True)
    runner.wait()
