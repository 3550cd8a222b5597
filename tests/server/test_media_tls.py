"""Media over https:// on the TLS port: the upload's body and the download's bytes go
through the TLS stream (sendfile cannot encrypt), whole and in order."""

from __future__ import annotations

import hashlib
import os

import httpx

from ..conftest import running_server
from .test_tls import ca, port_of, tls_config, trusting  # noqa: F401 - fixtures

__all__ = ["ca", "tls_config"]


async def test_upload_and_download_over_https(nursery, tls_config, ca, clock):  # noqa: F811
    async with running_server(nursery, tls_config, clock) as server:
        token = await server.user("ann")
        data = b"%PDF-" + os.urandom(3 * 1024 * 1024)  # several TLS records and reads
        base = f"https://localhost:{port_of(server)}"
        async with httpx.AsyncClient(verify=trusting(ca), timeout=20) as http:
            reply = await http.post(f"{base}/media", params={"name": "big.pdf"}, content=data,
                                    headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == 201, reply.text
            info = reply.json()
            assert info["sha256"] == hashlib.sha256(data).hexdigest()
            got = await http.get(f"{base}/media/{info['media']}",
                                 headers={"Authorization": f"Bearer {token}"})
            assert got.status_code == 200 and got.content == data
            part = await http.get(f"{base}/media/{info['media']}",
                                  headers={"Authorization": f"Bearer {token}",
                                           "Range": "bytes=1000000-1000099"})
            assert part.status_code == 206 and part.content == data[1000000:1000100]
