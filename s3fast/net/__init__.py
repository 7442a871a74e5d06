"""Networking: resolvers, the per-endpoint IP table, connections bound to one IP, pools."""
from ._endpoints import EndpointConfig, EndpointTable, IPStats, NoAddressesError
from ._resolver import Resolver, StaticResolver, SystemResolver

__all__ = ["EndpointConfig", "EndpointTable", "IPStats", "NoAddressesError", "Resolver", "StaticResolver",
           "SystemResolver"]
