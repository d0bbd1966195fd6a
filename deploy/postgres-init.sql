-- Each service owns its own database; none reads another's.
CREATE DATABASE intake;
CREATE DATABASE volunteers;
CREATE DATABASE dispatch;
CREATE DATABASE notify;
