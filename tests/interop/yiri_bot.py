"""A YiriMirai bot on the forward ws adapter (auth in headers): answers "ping" with "pong".

Usage: yiri_bot.py HOST PORT QQ VERIFY_KEY
"""
import asyncio
import sys

from mirai import GroupMessage, Mirai, WebSocketAdapter


async def main(host: str, port: int, qq: int, verify_key: str) -> None:
    bot = Mirai(qq=qq, adapter=WebSocketAdapter(verify_key=verify_key, host=host, port=port))

    @bot.on(GroupMessage)
    async def on_group_message(event: GroupMessage):
        if str(event.message_chain).strip() == "ping":
            await bot.send(event, f"pong from YiriMirai to {event.sender.member_name}")

    await bot.startup()
    print("yiri bot started", flush=True)
    await bot.background()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
