"""The simulated WhatsApp network: ``watui --demo`` and the integration tests run on it."""

from watui.engine.sim.client import SimClient
from watui.engine.sim.demo import DEMO_PHONES, DEMO_PREPAIRED, DEMO_SESSIONS, DemoSession, build_demo_network, pre_pair_demo
from watui.engine.sim.device_store import StoredDevice, clear_device, read_device, write_device
from watui.engine.sim.errors import SimError
from watui.engine.sim.history import HistorySpec, generate_history
from watui.engine.sim.network import SimAccount, SimGroup, SimNetwork

__all__ = [
    "DEMO_PHONES",
    "DEMO_PREPAIRED",
    "DEMO_SESSIONS",
    "DemoSession",
    "HistorySpec",
    "SimAccount",
    "SimClient",
    "SimError",
    "SimGroup",
    "SimNetwork",
    "StoredDevice",
    "build_demo_network",
    "clear_device",
    "generate_history",
    "pre_pair_demo",
    "read_device",
    "write_device",
]
