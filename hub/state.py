"""The typed keys of the application's shared state (aiohttp `web.AppKey`)."""

from __future__ import annotations

import asyncio

import aiohttp
import sqlite_utils
from aiohttp import web

from hub.chunk_store import LocalChunkStore
from hub.config import HubConfig
from hub.file_writer import FileWriter
from hub.login_throttle import LoginThrottle
from hub.metrics import HubMetrics
from hub.model_registry import ModelRegistry
from hub.notebooks import Notebooks
from hub.token_cache import TokenCache

CONFIG = web.AppKey("config", HubConfig)
DATABASE = web.AppKey("database", sqlite_utils.Database)
TOKENS = web.AppKey("tokens", TokenCache)  # authenticated tokens remembered between requests
CHUNKS = web.AppKey("chunks", LocalChunkStore)
MODELS = web.AppKey("models", ModelRegistry)
FILE_WRITER = web.AppKey("file_writer", FileWriter)
METRICS = web.AppKey("metrics", HubMetrics)
NOTEBOOKS = web.AppKey("notebooks", Notebooks)
UPLOAD_SLOTS = web.AppKey("upload_slots", asyncio.Semaphore)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
PROXY_SESSION = web.AppKey("proxy_session", aiohttp.ClientSession)
