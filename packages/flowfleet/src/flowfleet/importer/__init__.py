"""`flowfleet import`: existing deployments (a prefect.yaml, a live server) -> decorators.

Each module holds one step: read a prefect.yaml (`prefect_yaml`) or a server
(`server`) into `ExistingDeployment` records, find the flow function each names
(`locate`) and read it (`flow_function`), map a record to `DeploymentConfig`
arguments (`mapping`, pure, with `schedules` and `pools`), write them as Python
(`pysource`), insert them with libcst keeping the file's formatting (`edit`, with
`imports`), and tie it together as a unified diff (`run`).
"""
