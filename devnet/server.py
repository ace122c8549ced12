"""A running devnet: chain, block producer and HTTP API sharing one event loop.

`Devnet` is what the CLI runs and what tests start in-process:

    async with Devnet(DevnetConfig(port=0, block_interval_s=0.05)) as devnet:
        AsyncTron(provider=AsyncHTTPProvider(devnet.url))
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import structlog
from aiohttp import web

from devnet.api import create_app
from devnet.api_admin import install_admin
from devnet.chain import Chain
from devnet.faults import NO_FAULTS, FaultConfig
from devnet.faults_middleware import FaultController
from devnet.genesis import Genesis, load_genesis
from devnet.keys import address_to_base58
from devnet.producer import BlockProducer, wall_clock_ms
from devnet.snapshot import Snapshotting, load_state, save_state

__all__ = ["Devnet", "DevnetConfig"]

log = structlog.get_logger(__name__)


def _log_producer_exit(task: asyncio.Task[None]) -> None:
    """Make a crashed producer loud; otherwise the chain would just silently stop."""
    if not task.cancelled() and task.exception() is not None:
        log.error("block production stopped", exc_info=task.exception())


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    """How to run a devnet; port 0 picks a free port (read it back from Devnet.url)."""

    host: str = "127.0.0.1"
    port: int = 18090
    block_interval_s: float = 3.0
    solidify_lag_blocks: int = 19
    genesis_path: Path | None = None
    state_path: Path | None = None  # --state: loaded on start if present, saved on stop
    faults: FaultConfig = NO_FAULTS

    @property
    def block_interval_ms(self) -> int:
        return round(self.block_interval_s * 1000)


class Devnet:
    """Owns the chain, its producer task and the aiohttp site; start() then stop()."""

    def __init__(
        self,
        config: DevnetConfig,
        genesis: Genesis | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.config = config
        self.genesis = genesis or load_genesis(config.genesis_path)
        self.chain = Chain(self.genesis, config.solidify_lag_blocks, config.block_interval_ms)
        self.producer = BlockProducer(self.chain, config.block_interval_ms, clock_ms)
        if config.state_path is not None and load_state(config.state_path, self._stateful()):
            log.info("state loaded", path=str(config.state_path), head=self.chain.head_block.number)
        self.faults = FaultController(self.chain, self.producer, config.faults)
        self._clock_ms = clock_ms
        self._runner: web.AppRunner | None = None
        self._producer_task: asyncio.Task[None] | None = None

    def _stateful(self) -> dict[str, Snapshotting]:
        """The components --state saves; one that keeps state outside the chain goes here."""
        return {"chain": self.chain}

    @property
    def url(self) -> str:
        """Base URL of the running HTTP API, with the port actually bound."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("devnet is not running")
        host, port = self._runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    async def start(self) -> None:
        """Bind the HTTP API, then start producing blocks.

        Raises:
            OSError: the address cannot be bound (e.g. the port is taken).
        """
        self.producer.produce_current_slot()
        app = create_app(self.chain, clock_ms=self._clock_ms)
        install_admin(app, self.faults)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.config.host, self.config.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._producer_task = asyncio.create_task(self.producer.run(), name="devnet-producer")
        self._producer_task.add_done_callback(_log_producer_exit)
        log.info(
            "devnet started",
            url=self.url,
            genesis_block_id=self.chain.genesis_block.block_id.hex(),
            witnesses=[address_to_base58(w.address) for w in self.genesis.witnesses],
        )

    async def stop(self) -> None:
        """Stop producing, then close the HTTP API; safe to call twice."""
        # Producer first, so no block is made after the last answer was given.
        if self._producer_task is not None:
            self._producer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer_task
            self._producer_task = None
        if self._runner is not None:
            self.faults.release()  # cut requests held by faults, or cleanup waits for them
            await self._runner.cleanup()
            self._runner = None
            log.info("devnet stopped", head_number=self.chain.head_block.number)
            if self.config.state_path is not None:
                save_state(self.config.state_path, self._stateful())
                log.info("state saved", path=str(self.config.state_path))

    async def __aenter__(self) -> Devnet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
