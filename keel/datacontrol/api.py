from ninja import Router

from keel.datacontrol.backups.api import router as backups_router
from keel.datacontrol.company_deletion.api import router as company_deletion_router
from keel.datacontrol.crm_deletion.api import router as crm_deletion_router
from keel.datacontrol.export.api import router as export_router
from keel.datacontrol.restore.api import router as restore_router

router = Router()
router.add_router("", backups_router)
router.add_router("", export_router)
router.add_router("", crm_deletion_router)
router.add_router("", company_deletion_router)
router.add_router("", restore_router)
