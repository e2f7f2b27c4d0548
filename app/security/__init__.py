"""Defences of the gateway: admission, rate limits, query limits, WebSocket caps."""
