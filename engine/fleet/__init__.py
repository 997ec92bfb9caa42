"""Many deployments at once: the fleet file that names them (file), one row of SLA figures per deployment
loaded with a deadline (rows, deadline), the fleet's monthly report (report), and entries drafted for a
person to review (draft). The top layer of the engine: it calls the status and report of each deployment."""
