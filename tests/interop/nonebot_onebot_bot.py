"""A nonebot2 bot with nonebot-adapter-onebot (v11), answering "ping" with "pong", in one of
two modes:

- ``forward``: connects to botgate's forward WebSocket (it needs the lifecycle connect event
  first and takes self_id from it);
- ``reverse``: serves /onebot/v11/ws for botgate's reverse WebSocket (it requires X-Self-ID).

Both check the access token.

Usage: nonebot_onebot_bot.py MODE HOST PORT ACCESS_TOKEN
"""
import sys

import nonebot
from nonebot import on_message
from nonebot.adapters.onebot.v11 import Adapter, Bot, GroupMessageEvent

mode, host, port, token = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode == "forward":
    nonebot.init(driver="~none+~httpx+~websockets", onebot_ws_urls=[f"ws://{host}:{port}/"],
                 onebot_access_token=token, log_level="DEBUG")
else:
    nonebot.init(driver="~fastapi+~httpx+~websockets", host=host, port=port,
                 onebot_access_token=token, log_level="DEBUG")
nonebot.get_driver().register_adapter(Adapter)

ping = on_message()


@ping.handle()
async def handle(bot: Bot, event: GroupMessageEvent):
    if event.get_plaintext().strip() == "ping":
        name = event.sender.card or event.sender.nickname
        await bot.send(event, f"pong from nonebot {mode} to {name}")


if __name__ == "__main__":
    nonebot.run()
