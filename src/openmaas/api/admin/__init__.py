"""The admin API under `/admin/api/…`: users and their limits, every token, the models, and usage across
users. Each route declares `CurrentAdmin`, so a non-admin gets 403 and a request without a token 401,
whatever the web console shows or hides."""

from fastapi import APIRouter

from openmaas.api.admin import catalog, tokens, usage, users
from openmaas.api.openai.errors import errors

router = APIRouter()
for module in (users, tokens, catalog, usage):
    router.include_router(module.router, responses=errors(401, 403))
