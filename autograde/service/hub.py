"""JupyterHub's own identity: a student on the course's JupyterHub needs no token file.

Where ``autograde serve`` runs as a JupyterHub service (the hub starts it, or the hub's
``c.JupyterHub.services`` names it with an ``api_token`` and the service is started with the
same variables), the hub's variables are in its environment: ``JUPYTERHUB_API_URL``,
``JUPYTERHUB_API_TOKEN`` (the service's own token) and ``JUPYTERHUB_SERVICE_NAME``. Then a
request whose token is not one of the course's own is shown to the hub
(:class:`jupyterhub.services.auth.HubAuth`, ``GET /hub/api/user`` with that token): the hub
names its user, and the user is accepted as the student of the same id when the token carries
the scope ``access:services!service=<name>`` (JupyterHub's permission to use this service; a
token that only names its owner is not enough) and the course's roster has that student,
unrevoked (``autograde students``). The hub grants that scope through its roles, e.g.
``{"name": "user", "scopes": ["self", "access:services!service=autograde"]}``; the
``JUPYTERHUB_API_TOKEN`` of a student's single-user server carries it where the ``server``
role has it too (README: On JupyterHub).

JupyterHub is an optional dependency (``pip install brian2genn-autograder[jupyterhub]``); where
it is missing, or the variables are not set, only the course's tokens are accepted.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

from .store import Refused, Store

log = logging.getLogger("autograde.service")

#: Seconds the hub's answer for one token is reused (a token revoked on the hub stops working
#: within this time).
CACHE_SECONDS = 60


class HubIdentity:
    """Asks the hub at ``api_url`` who a token belongs to, as the service ``service``."""

    def __init__(self, api_url: str, api_token: str, service: str, scopes: set[str] | None = None):
        from jupyterhub.services.auth import HubAuth  # an optional dependency

        self.api_url, self.service = api_url, service
        self.scopes = scopes or {f"access:services!service={service}"}
        self.auth = HubAuth(
            api_url=api_url,
            api_token=api_token,
            access_scopes=self.scopes,
            cache_max_age=CACHE_SECONDS,
        )

    def user(self, token: str) -> str | None:
        """The hub user of ``token`` where it may use this service, else None.

        Raises :class:`Refused` (503) where the hub does not answer.
        """
        if not token:
            return None
        try:
            model = self.auth.user_for_token(token, sync=True)
        except Exception as err:  # noqa: BLE001 -- tornado's HTTPError, a refused connection
            log.warning("JupyterHub at %s did not answer: %s", self.api_url, err)
            raise Refused(
                503,
                f"the course's JupyterHub ({self.api_url}) did not answer to confirm who you "
                "are: try again in a minute, or use the token file your instructor gave you",
            ) from None
        if not model or model.get("kind", "user") != "user":
            return None
        if not self.auth.check_scopes(self.scopes, model):
            return None
        return model.get("name") or None

    def student(self, store: Store, token: str) -> str | None:
        """The course's student behind the hub ``token``, else None (not the hub's, no access
        to this service, or not on the roster)."""
        name = self.user(token)
        if name is None:
            return None
        with store._connect() as con:
            row = con.execute(
                "SELECT revoked FROM token WHERE role='s' AND name=?", (name,)
            ).fetchone()
        if row is None or row["revoked"] is not None:
            log.warning("JupyterHub user %r is not on the course's roster (or revoked)", name)
            return None
        return name


def from_environ(environ: Mapping[str, str] = os.environ) -> HubIdentity | None:
    """The hub identity the environment sets up (JupyterHub's service variables), else None."""
    url, token = environ.get("JUPYTERHUB_API_URL"), environ.get("JUPYTERHUB_API_TOKEN")
    if not (url and token):
        return None
    name = environ.get("JUPYTERHUB_SERVICE_NAME", "")
    scopes = environ.get("JUPYTERHUB_OAUTH_ACCESS_SCOPES", "")
    if not name:
        # e.g. started inside a single-user server, whose variables are the user's, not a
        # service's: its token and scopes must not decide who a student is
        log.info(
            "JUPYTERHUB_API_URL and JUPYTERHUB_API_TOKEN are set but not JUPYTERHUB_SERVICE_NAME: "
            "JupyterHub identities are not accepted (set the service's name as the hub knows it)"
        )
        return None
    try:
        hub = HubIdentity(url, token, name, set(json.loads(scopes)) if scopes else None)
    except ImportError:
        log.error(
            "JUPYTERHUB_API_URL is set but jupyterhub is not installed: JupyterHub identities "
            "are not accepted (pip install 'brian2genn-autograder[jupyterhub]')"
        )
        return None
    log.info("accepting JupyterHub %s users with scope %s", url, ", ".join(sorted(hub.scopes)))
    return hub
