"""A nonebot2 bot with nonebot-adapter-qq answering "ping" in groups and C2C chats with a
passive reply, over the gateway. The adapter's own settings point it at botgate
(`qq_api_base`, `qq_auth_base`).

Usage: nonebot_qq_bot.py HOST PORT APP_ID SECRET
"""
import sys

import nonebot
from nonebot import on_message
from nonebot.adapters.qq import Adapter, Bot, C2CMessageCreateEvent, GroupAtMessageCreateEvent

host, port, app_id, secret = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
base = f"http://{host}:{port}"
nonebot.init(
    driver="~httpx+~websockets",
    qq_api_base=f"{base}/",
    qq_auth_base=f"{base}/app/getAppAccessToken",
    qq_bots=[{"id": app_id, "secret": secret,
              "intent": {"c2c_group_at_messages": True, "guilds": False,
                         "guild_members": False, "guild_message_reactions": False,
                         "message_audit": False, "at_messages": False}}],
    log_level="DEBUG",
)
nonebot.get_driver().register_adapter(Adapter)

ping = on_message()


@ping.handle()
async def handle(bot: Bot, event: GroupAtMessageCreateEvent | C2CMessageCreateEvent):
    if event.get_plaintext().strip() == "ping":
        where = "group" if isinstance(event, GroupAtMessageCreateEvent) else "c2c"
        await bot.send(event, f"pong from nonebot qq {where}")


if __name__ == "__main__":
    nonebot.run()
