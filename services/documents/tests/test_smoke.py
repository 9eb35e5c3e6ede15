from __future__ import annotations

import httpx

from kommune.testing.service import Personas

from .conftest import Staff, open_file, upload


async def test_open_file_and_upload(
    client: httpx.AsyncClient, people: Personas, staff: Staff
) -> None:
    case_file = await open_file(client, people, staff.bau)
    response = await upload(client, staff.bau, case_file["id"], b"Hallo Welt")
    assert response.status_code == 201, response.text
