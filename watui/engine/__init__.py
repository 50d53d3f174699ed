"""WhatsApp backends behind one client protocol. Only watui.engine.neonize imports neonize."""

from watui.engine.protocol import ClientState, EventSink, SendResult, WhatsAppClient

__all__ = ["ClientState", "EventSink", "SendResult", "WhatsAppClient"]
