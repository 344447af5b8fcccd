from prefect import flow


@flow(retries=2)
def sync_crm(region: str, batch_size: int = 500) -> None:
    """Copy CRM accounts into the warehouse."""
