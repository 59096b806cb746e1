"""The incidents service's RPC entrypoints, one mixin per area; `service.py` composes them.

Each method only verifies the actor, opens a transaction and calls the domain: no rules here.
"""
