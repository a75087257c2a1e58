"""Sends events to a Tenure server with Segment's own, unmodified Python SDK
(segment-analytics-python), changing only the host. Usage: segment_send.py URL WRITE_KEY.
Prints the number of messages sent; exits 1 if the SDK reported any error."""

import sys
from datetime import datetime, timezone

from segment.analytics import Client

url, write_key = sys.argv[1], sys.argv[2]
errors = []


def on_error(error, items):
    errors.append(f"{error} ({len(items)} items)")


sent = 0
for gzip in (True, False):
    client = Client(write_key, host=url, gzip=gzip, on_error=on_error, max_retries=3, sync_mode=False)
    suffix = "gz" if gzip else "plain"
    anon = f"anon-{suffix}"
    client.page(anonymous_id=anon, name="Pricing", properties={"path": "/pricing"})
    client.identify(f"user-{suffix}", {"email": f"{suffix}@example.com", "plan": "pro"}, anonymous_id=anon)
    client.group(f"user-{suffix}", "acct-sdk", {"name": "SDK Inc"})
    for i in range(40):
        client.track(
            f"user-{suffix}",
            "report_created",
            {"report_id": f"r-{suffix}-{i}", "widgets": i},
            context={"groupId": "acct-sdk"},
            timestamp=datetime(2026, 3, 1 + i % 20, 12, 0, tzinfo=timezone.utc),
        )
    client.screen(f"user-{suffix}", name="Home", context={"groupId": "acct-sdk"})
    client.alias(f"old-{suffix}", f"user-{suffix}")
    client.flush()
    client.join()
    sent += 45

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(sent)
