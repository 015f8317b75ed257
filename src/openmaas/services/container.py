"""`Services`: everything an API process serves with, built from its settings and run for its lifetime.

The app (`openmaas.app`) reaches them through `app.state.services`; routes through the typed
dependencies of `openmaas.api.deps`. Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openmaas.access.auth import Authenticator
from openmaas.access.clock import Clock, QuotaDay
from openmaas.access.metering import Metering
from openmaas.catalog import Catalog
from openmaas.draining import Drain
from openmaas.engines.manager import EngineManager
from openmaas.fetch import FetchPolicy, ImageFetcher
from openmaas.metrics import Metrics
from openmaas.services.accounts import AccountService
from openmaas.services.admission import Admission
from openmaas.services.chat import ChatService
from openmaas.services.embeddings import EmbeddingService
from openmaas.services.images.service import ImageService
from openmaas.services.responses import ResponseService
from openmaas.services.usage import UsageService
from openmaas.services.vision import ChatImages
from openmaas.settings import Settings
from openmaas.store.backends import open_stores
from openmaas.store.base import QuotaCounter, RecordStore

if TYPE_CHECKING:
    from openmaas.workers.discovery import WorkerDiscovery

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    store: RecordStore
    counter: QuotaCounter
    authenticator: Authenticator
    quota_day: QuotaDay
    metering: Metering
    engines: EngineManager
    chat: ChatService
    embeddings: EmbeddingService
    images: ImageService
    metrics: Metrics
    started_at: int
    accounts: AccountService
    usage: UsageService
    responses: ResponseService
    drain: Drain


@asynccontextmanager
async def running_services(
    settings: Settings, catalog: Catalog, engines: EngineManager, metrics: Metrics, drain: Drain, clock: Clock
) -> AsyncIterator[Services]:
    """Open the store, build the services, start the engines and background work; close all on exit."""
    stores = await open_stores(settings)
    store, counter = stores.records, stores.counter
    quota_day = QuotaDay(settings.zone, clock)
    metering = Metering(counter, store, settings, quota_day)
    admission = Admission(engines, metering, metrics)
    images = ImageService.build(settings, stores.tasks, admission, metrics)
    services = Services(
        settings=settings,
        catalog=catalog,
        store=store,
        counter=counter,
        authenticator=Authenticator(store),
        quota_day=quota_day,
        metering=metering,
        engines=engines,
        chat=ChatService(
            engines,
            admission,
            metrics,
            _chat_images(settings),
            drain,
            default_max_tokens=settings.default_max_tokens,
        ),
        embeddings=EmbeddingService(admission, metrics),
        images=images,
        metrics=metrics,
        started_at=int(time.time()),
        accounts=AccountService(settings, store, counter, quota_day, engines.has),
        usage=UsageService(settings, catalog, store, counter, quota_day, metering),
        responses=ResponseService(stores.responses, settings.response_retention_hours),
        drain=drain,
    )
    engines.start()
    await images.start()
    services.responses.start()
    discovery = await _discover_workers(settings, engines)
    try:
        yield services
    finally:
        await images.close()
        await services.responses.close()
        await services.chat.close()
        await engines.close()
        if discovery is not None:
            await discovery.close()
        await metering.drain()
        await stores.close()


def _chat_images(settings: Settings) -> ChatImages:
    return ChatImages(
        ImageFetcher(FetchPolicy.from_settings(settings)), max_images=settings.vision_max_images
    )


async def _discover_workers(settings: Settings, engines: EngineManager) -> WorkerDiscovery | None:
    """With Redis and a worker secret (chat models) or the shared image queue (image models), serve the
    models that engine workers registered."""
    if settings.redis_url is None or (settings.worker_secret is None and not settings.shared_image_queue):
        return None
    from openmaas.workers.discovery import WorkerDiscovery  # the `scale` extra

    discovery = WorkerDiscovery(settings, engines)
    await discovery.start()
    return discovery
