"""A nonebot2 bot with nonebot-adapter-qq answering "ping" in groups and C2C chats with a
passive reply, in one of two modes:

- ``websocket``: over the gateway;
- ``webhook``: the adapter's webhook server (``/qq/webhook`` on LISTEN_PORT) receives the
  signed pushes, after answering the op 13 validation.

The adapter's own settings point it at botgate (``qq_api_base``, ``qq_auth_base``).

Usage: nonebot_qq_bot.py MODE HOST PORT APP_ID SECRET [LISTEN_PORT]
"""
import sys

import nonebot
from nonebot import on_message
from nonebot.adapters.qq import Adapter, Bot, C2CMessageCreateEvent, GroupAtMessageCreateEvent

mode, host, port, app_id, secret = sys.argv[1:6]
base = f"http://{host}:{port}"
bots = [{"id": app_id, "secret": secret, "use_websocket": mode == "websocket",
         "intent": {"c2c_group_at_messages": True, "guilds": False, "guild_members": False,
                    "guild_message_reactions": False, "message_audit": False,
                    "at_messages": False}}]
if mode == "websocket":
    nonebot.init(driver="~httpx+~websockets", qq_api_base=f"{base}/",
                 qq_auth_base=f"{base}/app/getAppAccessToken", qq_bots=bots, log_level="DEBUG")
else:
    nonebot.init(driver="~fastapi+~httpx", host="127.0.0.1", port=int(sys.argv[6]),
                 qq_api_base=f"{base}/", qq_auth_base=f"{base}/app/getAppAccessToken",
                 qq_bots=bots, log_level="DEBUG")
nonebot.get_driver().register_adapter(Adapter)

ping = on_message()


@ping.handle()
async def handle(bot: Bot, event: GroupAtMessageCreateEvent | C2CMessageCreateEvent):
    if event.get_plaintext().strip() == "ping":
        where = "group" if isinstance(event, GroupAtMessageCreateEvent) else "c2c"
        await bot.send(event, f"pong from nonebot qq {where}")


if __name__ == "__main__":
    nonebot.run()
