"""A nonebot2 bot with nonebot-adapter-onebot (v11) as a reverse WebSocket server on
/onebot/v11/ws (it requires X-Self-ID and checks the access token). Answers "ping" with "pong".

Usage: nonebot_onebot_reverse_bot.py HOST PORT ACCESS_TOKEN
"""
import sys

import nonebot
from nonebot import on_message
from nonebot.adapters.onebot.v11 import Adapter, Bot, GroupMessageEvent

host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nonebot.init(
    driver="~fastapi+~httpx+~websockets",
    host=host,
    port=port,
    onebot_access_token=token,
    log_level="DEBUG",
)
nonebot.get_driver().register_adapter(Adapter)

ping = on_message()


@ping.handle()
async def handle(bot: Bot, event: GroupMessageEvent):
    if event.get_plaintext().strip() == "ping":
        name = event.sender.card or event.sender.nickname
        await bot.send(event, f"pong from nonebot reverse to {name}")


if __name__ == "__main__":
    nonebot.run()
