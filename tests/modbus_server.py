"""A real Modbus TCP server on 127.0.0.1 for the plant I/O tests: pymodbus' own
server, run on its own event loop in a thread.

Its memory is a plain dict the test reads and sets, ``mem[(kind, address)]`` with
kind ``coil``, ``di`` (discrete input), ``hr`` (holding register) or ``ir``
(input register); every write a client makes is also logged in ``writes`` with
its time. (pymodbus' device model calls ``_action`` on every request: writes are
recorded from it, and reads are answered from ``mem``.) ``stop()`` and
``start()`` again on the same port stand for a device that goes away and comes
back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from streams import free_port

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its deprecation notes
KIND = {1: "coil", 5: "coil", 15: "coil", 2: "di", 3: "hr", 6: "hr", 16: "hr", 4: "ir"}
SIZE = 1024


@dataclass
class ModbusServer:
    port: int = field(default_factory=free_port)
    mem: dict[tuple[str, int], int] = field(default_factory=dict)
    writes: list[tuple[float, str, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None

    async def _action(self, fc, start, address, count, regs, set_values):  # noqa: ANN001, ANN202
        kind = KIND.get(fc)
        with self._lock:
            if set_values is not None:
                for i, v in enumerate(set_values):
                    self.mem[(kind, address + i)] = int(v)
                    self.writes.append((time.monotonic(), kind, address + i, int(v)))
                return None
            for i in range(count):
                a = address + i
                v = self.mem.get((kind, a), 0)
                if kind in ("coil", "di"):  # bits are packed 16 to a register here
                    idx, bit = (a - start) // 16, (a - start) % 16
                    regs[idx] = (regs[idx] | (1 << bit)) if v else (regs[idx] & ~(1 << bit))
                else:
                    regs[a - start] = v
        return None

    def _device(self) -> SimDevice:
        def block(kind: DataType) -> list[SimData]:
            return [SimData(0, count=SIZE, values=0, datatype=kind)]

        bits, regs = DataType.BITS, DataType.REGISTERS
        return SimDevice(1, simdata=(block(bits), block(bits), block(regs), block(regs)),
                         action=self._action)  # fmt: skip

    def start(self) -> ModbusServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)

            async def serve() -> None:
                self._server = ModbusTcpServer(self._device(), address=("127.0.0.1", self.port))
                ready.set()
                await self._server.serve_forever()

            self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, name="modbus-server", daemon=True)
        self._thread.start()
        ready.wait(5)
        deadline = time.monotonic() + 5
        import socket

        while time.monotonic() < deadline:  # listening?
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"the Modbus server did not listen on {self.port}")

    def stop(self) -> None:
        if self._server is not None and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def get(self, kind: str, address: int) -> int:
        with self._lock:
            return self.mem.get((kind, address), 0)

    def set(self, kind: str, address: int, value: int) -> None:
        with self._lock:
            self.mem[(kind, address)] = int(value)

    def written(self, kind: str, address: int) -> list[int]:
        with self._lock:
            return [v for _, k, a, v in self.writes if (k, a) == (kind, address)]

    def __enter__(self) -> ModbusServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
