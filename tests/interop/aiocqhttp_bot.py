"""An aiocqhttp bot, answering "ping" in a group, in one of two modes:

- ``ws``: reverse WebSocket server (/ws/api and /ws/event, split roles); replies through the
  API connection with ``bot.send``.
- ``post``: HTTP POST receiver at / checking the signature; replies with a quick operation.

Usage: aiocqhttp_bot.py MODE HOST PORT ACCESS_TOKEN SECRET
"""
import sys

from aiocqhttp import CQHttp, Event

mode, host, port, token, secret = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
bot = CQHttp(access_token=token, secret=secret or None)


@bot.on_message("group")
async def handle(event: Event):
    if str(event.raw_message).strip() != "ping":
        return None
    name = event.sender.get("card") or event.sender.get("nickname")
    if mode == "ws":
        await bot.send(event, f"pong from aiocqhttp ws to {name}")
        return None
    return {"reply": f"pong from aiocqhttp post to {name}", "at_sender": False}


if __name__ == "__main__":
    bot.run(host=host, port=port)
