"""The original service's read routes: in OpenAPI, deprecated, each naming its /v1 route."""

from __future__ import annotations

from service.gateway.app import create_fastapi
from service.settings import Settings

ROUTES = {
    "/api/report/get-all": "/v1/reports",
    "/api/report/get-one/{report_id}": "/v1/reports/{sales_date}",
    "/api/sales/get-all": "/v1/sales/{sales_date}/lines",
    "/api/sales/get-one/{sale_id}": "/v1/sales/{sales_date}/lines",
}


def test_old_read_routes_are_deprecated_and_name_their_successor() -> None:
    """OpenAPI lists the four old routes as deprecated GETs whose summary names the /v1 route."""
    app = create_fastapi(Settings(_env_file=None))
    paths = app.openapi()["paths"]
    for path, successor in ROUTES.items():
        get = paths[path]["get"]
        assert get["deprecated"] is True
        assert successor in get["summary"]


def test_get_all_is_capped() -> None:
    """get-all takes limit (default 100, at most 1000) and offset."""
    app = create_fastapi(Settings(_env_file=None))
    params = {
        p["name"]: p["schema"]
        for p in app.openapi()["paths"]["/api/sales/get-all"]["get"]["parameters"]
    }
    assert params["limit"]["maximum"] == 1000 and params["limit"]["default"] == 100
    assert params["offset"]["minimum"] == 0
