"""Dashboard panels per role. Each domain registers a provider with :func:`panel`.

A provider is ``f(user) -> dict | None`` returning ``{"title", "template", **context}``;
the dashboard renders the panels of the user's role in registration order.
"""

from __future__ import annotations

from collections.abc import Callable

_PROVIDERS: list[tuple[set[str], Callable]] = []


def panel(*roles: str) -> Callable:
    def decorator(func: Callable) -> Callable:
        _PROVIDERS.append((set(roles), func))
        return func

    return decorator


def panels_for(user) -> list[dict]:
    out = []
    for roles, func in _PROVIDERS:
        if user.role in roles:
            result = func(user)
            if result:
                out.append(result)
    return out
