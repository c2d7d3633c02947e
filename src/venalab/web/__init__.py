"""The venalab web application: lab worksheet, stored exams with versions, sign-off, users,
audit log, REST API. FastAPI with server-rendered Jinja2 pages and a little JavaScript.

Every clinical conclusion comes from `venalab.engine.assess`; the web layer converts forms
and JSON into exam documents and shows results.
"""
