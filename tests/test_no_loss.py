"""Nothing is lost: incidents recorded while the alerts service is down are all e-mailed, once each,
when it comes back."""
from __future__ import annotations

import re
import time
from collections import Counter

from .test_end_to_end import DSL, TEACHER, record


def test_alerts_recorded_while_alerts_service_is_down_are_sent_exactly_once(stack, api):
    teacher = api(TEACHER)
    stack.stop_process("alerts")
    try:
        incidents = [record(teacher, f"Recorded during the outage, number {n}.") for n in range(5)]
    finally:
        stack.start_process("alerts")
    stack.wait_service("alerts")
    wanted = {i["id"] for i in incidents}

    def sent_counts() -> Counter:
        ids = (int(m) for body in stack.mail.to(DSL) for m in set(re.findall(r"/incidents/(\d+)\b", body)))
        return Counter(i for i in ids if i in wanted)

    deadline = time.time() + 60
    while time.time() < deadline and set(sent_counts()) != wanted:
        time.sleep(0.2)
    assert set(sent_counts()) == wanted, "some alerts recorded during the outage were never e-mailed"
    time.sleep(3)  # give any duplicate the chance to arrive
    assert sent_counts() == Counter({i: 1 for i in wanted})
