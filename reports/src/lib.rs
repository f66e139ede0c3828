//! faultline's reports: HTML, plots, results.json and JUnit XML rendered
//! from checker results. Reports render; they never decide validity.
