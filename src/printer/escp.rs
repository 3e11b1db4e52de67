//! The DNP / Citizen ESC P command protocol.
