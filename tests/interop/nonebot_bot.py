"""A nonebot2 bot with nonebot-adapter-mirai: events over forward ws, API calls over http
with the ws-issued session key. Answers "ping" with "pong".

Usage: nonebot_bot.py HOST PORT QQ VERIFY_KEY
"""
import sys

import nonebot
from nonebot import on_message
from nonebot.adapters.mirai import Adapter, Bot
from nonebot.adapters.mirai.event import GroupMessage

host, port, qq, verify_key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
nonebot.init(
    driver="~none+~httpx+~websockets",
    mirai_clients=[{"host": host, "port": port, "account": qq, "verify_key": verify_key}],
    log_level="DEBUG",
)
nonebot.get_driver().register_adapter(Adapter)

ping = on_message()


@ping.handle()
async def handle(bot: Bot, event: GroupMessage):
    if event.get_plaintext().strip() == "ping":
        await bot.send(event, f"pong from nonebot to {event.sender.name}")


if __name__ == "__main__":
    nonebot.run()
