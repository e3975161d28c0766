# Read by the flask command (python-dotenv): `flask --app agentlens run` serves on $PORT,
# 3000 by default, like `agentlens run`; --port still wins.
FLASK_RUN_PORT=${PORT:-3000}
