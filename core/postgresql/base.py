"""Django's PostgreSQL backend with a cheaper per-request connection health check.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first use of a persistent connection in every
request: a round trip per publish, more than some of its statements cost. A connection that sits idle between
requests has nothing to read; when the server ends it (restart, ``pg_terminate_backend``, an idle timeout) it
sends its goodbye and closes the socket, which then polls readable. So: poll the socket without waiting, and
only if something is there run Django's own check (which then finds the connection broken and reconnects).

The one case it lets through: a request that starts in the instant between the server deciding to end the
connection and its goodbye arriving (sub-millisecond for ``pg_terminate_backend`` or a fast shutdown). That
request's first statement fails as it would had the server died a moment later, mid-request; Django then drops
the connection at the end of the request and the next one reconnects.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (self.connection is None or not self.health_check_enabled or self.health_check_done or self.pool
                or self.in_atomic_block):
            return super().close_if_health_check_failed()
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError, base.Database.Error):
            readable = True  # no usable socket: let the full check decide
        if not readable:
            self.health_check_done = True
            return None
        return super().close_if_health_check_failed()
