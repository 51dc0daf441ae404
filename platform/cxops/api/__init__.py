"""The CXOps platform API: governance (models, stages, approvals, the audit log, API tokens) over HTTP.

    app = cxops.api.app.create_app(settings)              # the FastAPI app
    cxops.api.server.serve(settings, "127.0.0.1", 8700)   # run it with uvicorn
    client = cxops.api.client.PlatformClient(url, token)  # call it

Every route but /healthz and the docs needs `Authorization: Bearer <token>` and checks one permission of
`policies/roles.yaml` (`cxops.api.access`). Submodules are imported where used, so importing this package
does not import FastAPI.
"""

__all__: list[str] = []
