"""Settings for ``bench/fanout.py --layer pubsub`` only: the same project with channels-redis's pub/sub layer,
where a group send is one PUBLISH that each process receives once and hands to its local consumers (the
default layer stores one copy per consumer, and each process pops them one at a time). An experiment, not
a production setting: see the "Event fan-out" section of bench/RESULTS.md."""

from config.settings import *  # noqa: F403
from config.settings import REDIS_URL

CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                              "CONFIG": {"hosts": [REDIS_URL]}}}
