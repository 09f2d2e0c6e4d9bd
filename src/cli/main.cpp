// The one Olympus executable. Every service is listed here, once; everything else is in libraries.
#include "app/service.hpp"
#include "demo/demo_service.hpp"

int main(int argc, char** argv) {
    olympus::app::Catalog catalog;
    catalog.add<olympus::demo::DemoService>("demo");
    return olympus::app::run_cli(argc, argv, catalog);
}
