from ninja import Router

from keel.contacts.import_api import router as import_router

router = Router()
router.add_router("", import_router)
