"""A qq-botpy bot (Tencent's official Python SDK) answering "ping" in groups and C2C chats
with a passive reply. botpy has no setting for its endpoints: they are pointed at botgate the
way its own code allows — `Route.DOMAIN`/`Route.SCHEME` for the OpenAPI, and the token
request's URL rewritten on its aiohttp session — and everything else runs unchanged.

Usage: botpy_bot.py HOST PORT APP_ID SECRET
"""
import sys

import aiohttp
import botpy
from botpy.http import Route
from botpy.message import C2CMessage, GroupMessage

host, port, app_id, secret = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
Route.DOMAIN = f"{host}:{port}"
Route.SCHEME = "http"
_post = aiohttp.ClientSession.post


def _post_to_botgate(self, url, *args, **kwargs):
    if isinstance(url, str) and url.startswith("https://bots.qq.com/"):
        url = f"http://{host}:{port}/" + url[len("https://bots.qq.com/"):]
    return _post(self, url, *args, **kwargs)


aiohttp.ClientSession.post = _post_to_botgate


class PingBot(botpy.Client):
    async def on_ready(self):
        print("botpy ready", self.robot.name, flush=True)

    async def on_group_at_message_create(self, message: GroupMessage):
        if message.content.strip() == "ping":
            await message._api.post_group_message(
                group_openid=message.group_openid, msg_type=0, msg_id=message.id,
                content="pong from botpy")

    async def on_c2c_message_create(self, message: C2CMessage):
        if message.content.strip() == "ping":
            await message._api.post_c2c_message(
                openid=message.author.user_openid, msg_type=0, msg_id=message.id,
                content="pong from botpy c2c")


if __name__ == "__main__":
    PingBot(intents=botpy.Intents(public_messages=True)).run(appid=app_id, secret=secret)
