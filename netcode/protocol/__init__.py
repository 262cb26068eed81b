"""Sans-IO connections: handshake, acks, RTT, reliable/sequenced/unreliable channels, fragmentation."""
from .client import ClientProtocol, ClientState
from .config import TransportConfig
from .connection import Connection
from .endpoint import Endpoint, TransportEndpoint
from .events import (Channel, ConnectError, ConnectFailed, Connected, Disconnected, DisconnectReason,
                     LocalProtocolError, MessageReceived, SendQueueFull)
from .server import ServerProtocol

__all__ = ["ClientProtocol", "ClientState", "TransportConfig", "Connection", "Channel", "ConnectError",
           "ConnectFailed", "Connected", "Disconnected", "DisconnectReason", "Endpoint", "LocalProtocolError",
           "MessageReceived", "SendQueueFull", "ServerProtocol", "TransportEndpoint"]
