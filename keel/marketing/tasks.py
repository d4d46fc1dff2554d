from django.tasks import task

from keel.marketing.sending import deliver_campaign


@task()
def send_campaign(campaign_id):
    """Send a started campaign; its argument is the campaign id, everything else is in the database."""
    return deliver_campaign(campaign_id)
