"""The engineers' pages: the zone editor (check, preview, save a zone file, the
whole configuration checked with the draft before anything is written) and the
floor calibration. Each route needs the role engineer; changes carry the
session's CSRF token in the X-CSRF-Token header."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import calibrate, editor
from .backend import Forbidden

if TYPE_CHECKING:
    from .app import Console

MAX_MARKS_BYTES = 65_536  # 64 pairs of marks are a few kB


class EngineerPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        return [
            Route("/calibration/{camera}", self.calibration_page),
            Route("/calibration/{camera}/{action}", self.calibration_act, methods=["POST"]),
            Route("/zones/{camera}", self.zones_page),
            Route("/zones/{camera}/frame.jpg", self.zones_frame),
            Route("/zones/{camera}/file/{index:int}", self.zones_file),
            Route("/zones/{camera}/{index:int}/{action}", self.zones_act, methods=["POST"]),
        ]

    async def zones_page(self, request: Request) -> Response:
        s = self.console.need(request, "engineer")
        camera = self.console.camera_id(request)
        loaded = self.console.backend.loaded()
        files = [str(f) for f in editor.zone_files(loaded, camera)]
        cam = loaded.config.camera(camera)
        return self.console.page(request, "zones.html", s, camera=camera, files=files,
                                 fields=editor.schema_fields(), width=cam.width or 0,
                                 height=cam.height or 0)  # fmt: skip

    async def zones_frame(self, request: Request) -> Response:
        self.console.need(request, "engineer")
        camera = self.console.camera_id(request)
        frame = await asyncio.to_thread(self.console.backend.frame, camera)
        if frame is None:
            return PlainTextResponse("no frame yet", 404)
        import cv2

        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return Response(data.tobytes(), media_type="image/jpeg")

    async def zones_file(self, request: Request) -> Response:
        self.console.need(request, "engineer")
        camera = self.console.camera_id(request)
        files = editor.zone_files(self.console.backend.loaded(), camera)
        index = request.path_params["index"]
        if not 0 <= index < len(files):
            return PlainTextResponse("no such zone file", 404)
        text = editor.current(files[index])
        return Response(text or '{"type": "FeatureCollection", "features": []}',
                        media_type="application/geo+json",
                        headers={"ETag": f'"{editor.version(text)}"'})  # fmt: skip

    async def zones_act(self, request: Request) -> Response:
        """check | preview | save, with the edited GeoJSON as the body; the CSRF token
        in the X-CSRF-Token header."""
        s = self.console.need(request, "engineer")
        if not s.csrf_ok(request.headers.get("x-csrf-token")):
            raise Forbidden("the request's CSRF token is missing or wrong: reload the page")
        camera = self.console.camera_id(request)
        loaded = self.console.backend.loaded()
        index = request.path_params["index"]
        if not 0 <= index < len(editor.zone_files(loaded, camera)):
            return PlainTextResponse("no such zone file", 404)
        body = await request.body()
        if len(body) > editor.MAX_BYTES:
            return PlainTextResponse("too large", 413)
        text = body.decode("utf-8", "replace")
        action = request.path_params["action"]
        if action == "check":
            checked = await asyncio.to_thread(editor.check, loaded, camera, index, text)
            return JSONResponse({"ok": checked.ok, "problems": checked.problems})
        if action == "preview":
            checked = await asyncio.to_thread(editor.check, loaded, camera, index, text)
            if not checked.ok:
                return JSONResponse({"ok": False, "problems": checked.problems}, 422)
            frame = await asyncio.to_thread(self.console.backend.frame, camera)
            png = await asyncio.to_thread(editor.preview, frame, loaded, camera, checked.zones)
            return Response(png, media_type="image/png")
        if action == "save":
            started_from = (request.headers.get("if-match") or "").strip('"') or None
            saved, problems, message = await asyncio.to_thread(
                editor.save, loaded, camera, index, text, s.user.name,
                loaded.state_dir / "audit.jsonl", self.console.backend.reload, started_from,
            )  # fmt: skip
            stale = not saved and message.startswith("not saved: the zone file changed")
            return JSONResponse({"ok": saved, "problems": problems, "message": message},
                                200 if saved else 409 if stale else 422)  # fmt: skip
        return PlainTextResponse("unknown action", 404)

    # -- floor calibration (engineers) ---------------------------------------------------

    async def calibration_page(self, request: Request) -> Response:
        s = self.console.need(request, "engineer")
        camera = self.console.camera_id(request)
        loaded = self.console.backend.loaded()
        cal = loaded.config.camera(camera).calibration
        marks = (
            [{"x": x, "y": y, "fx": fx, "fy": fy}
             for (x, y), (fx, fy) in zip(cal.image_points, cal.floor_points, strict=True)]
            if cal else []
        )  # fmt: skip
        return self.console.page(request, "calibration.html", s, camera=camera,
                                 marks=json.dumps(marks),
                                 plan=json.dumps(calibrate.plan(loaded, camera)))  # fmt: skip

    async def calibration_act(self, request: Request) -> Response:
        """check | preview | save; body {"image_points": [[x, y]…], "floor_points": […]}."""
        s = self.console.need(request, "engineer")
        if not s.csrf_ok(request.headers.get("x-csrf-token")):
            raise Forbidden("the request's CSRF token is missing or wrong: reload the page")
        camera = self.console.camera_id(request)
        raw = await request.body()
        if len(raw) > MAX_MARKS_BYTES:
            return JSONResponse({"ok": False, "errors": ["marks: the body is too large"]}, 413)
        try:
            body = json.loads(raw)
            image = [(float(x), float(y)) for x, y in body["image_points"]][:64]
            floor = [(float(x), float(y)) for x, y in body["floor_points"]][:64]
        except (ValueError, KeyError, TypeError, RecursionError):
            # RecursionError: JSON nested deeper than the parser's stack (an attack).
            return JSONResponse({"ok": False, "errors": ["marks: pairs of numbers expected"]},
                                400)  # fmt: skip
        loaded = self.console.backend.loaded()
        action = request.path_params["action"]
        if action == "check":
            return JSONResponse(calibrate.fit(image, floor))
        if action == "preview":
            verdict = calibrate.fit(image, floor)
            if not verdict["ok"]:
                return JSONResponse(verdict, 422)
            from ..vision.calibration import FloorMap

            frame = await asyncio.to_thread(self.console.backend.frame, camera)
            png = await asyncio.to_thread(calibrate.preview, frame, loaded, camera,
                                          FloorMap.from_points(image, floor))  # fmt: skip
            return Response(png, media_type="image/png")
        if action == "save":
            saved, problems, message = await asyncio.to_thread(
                calibrate.save, loaded, camera, image, floor, s.user.name,
                loaded.state_dir / "audit.jsonl", self.console.backend.reload,
            )  # fmt: skip
            return JSONResponse({"ok": saved, "errors": problems, "message": message},
                                200 if saved else 422)  # fmt: skip
        return PlainTextResponse("unknown action", 404)
